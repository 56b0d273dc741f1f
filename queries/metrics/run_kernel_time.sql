-- name: run_kernel_time
-- description: One row per run and kernel name: the kernels of that name that start in the run's window W, their count and GPU time, and both per image.
-- inputs: kernels, run_window, run_images
-- derive: per-batch
--
-- Kernels are grouped by short_name (nsys's shortened name). time_ns sums
-- their durations (end - start; concurrent kernels each count their own
-- time, as in nsys's cuda_gpu_kern_sum), time_per_image_ns divides it by
-- the images of W (run_images), kernels_per_image likewise. What
-- compare_batches names to explain a change between two collections.
create or replace view run_kernel_time as
with
    kernels_in as (
        select batch_id, run_id, short_name, start, "end" from kernels
    ),
    windows as (
        select * from run_window
    ),
    images as (
        select batch_id, run_id, images from run_images
    ),
    per_name as (
        select
            k.batch_id,
            k.run_id,
            k.short_name,
            count(*) as kernels,
            sum(k."end" - k.start) as time_ns
        from kernels_in as k
        join windows as w
            on w.batch_id = k.batch_id and w.run_id = k.run_id
        where k.start >= w.w_start and k.start < w.w_end
        group by k.batch_id, k.run_id, k.short_name
    ),
    final as (
        select
            p.batch_id,
            p.run_id,
            p.short_name,
            p.kernels,
            p.time_ns,
            p.kernels / nullif(i.images, 0) as kernels_per_image,
            p.time_ns / nullif(i.images, 0) as time_per_image_ns
        from per_name as p
        join images as i
            on i.batch_id = p.batch_id and i.run_id = p.run_id
    )
select * from final;
