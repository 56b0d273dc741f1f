-- name: rq4_numa
-- description: RQ4: untraced throughput with CPUs and memory bound local to the GPU's NUMA node against remote, and their ratio, by model and batch size; no data where the host could not place a run remotely.
-- inputs: run_config, runs, config_summary, config_stats
-- rq: rq4
-- chart: bar x=batch_size y=ratio series=model title=Throughput ratio local / remote NUMA binding, by batch size
--
-- One row per (GPU, model, resolution, batch size, compile mode, pipeline,
-- preprocessing) of the rq4 plan (run_config rows with rq = 'rq4'),
-- ordered by GPU, model, batch size. The placement is the EFFECTIVE one the
-- collector recorded (run_config.numa_placement: local, remote or unknown,
-- i.e. unbound); a run the collector could not place (status
-- 'unavailable', e.g. remote binding on a host with one NUMA node) has no
-- throughput and is never treated as measured; its reason is runs.error.
-- Columns:
--   gpu_name, model ('p<patch> d<depth> h<hidden>'), patch, depth, hidden,
--   resolution, batch_size;
--   local_throughput, local_lo, local_hi, local_n   untraced img/s of the
--     local configuration (median run, 95 % t interval over runs, runs);
--   remote_throughput, remote_lo, remote_hi, remote_n   the same, remote;
--   ratio = local / remote (medians of runs): null unless both placements
--     were measured; ratio_lo, ratio_hi its 95 % interval over both
--     sides' runs (Welch's t on log run values, ratio_ci in
--     views/05_stats.sql; null when a side has fewer than 2 runs);
--   unbound_throughput   the unbound (placement unknown) configuration's
--     median, shown for reference where no binding was possible;
--   runs_ok, runs_unavailable   runs of the group by outcome (a run the
--     collector could not place and that recorded no settings counts for
--     every group of its batch; with no other rq4 run in its batch it gets
--     a row of its own, settings null);
--   status  'measured', or why there is no ratio: 'no data: <the
--     collector's reason>' (e.g. the host has one NUMA node), 'no data: no
--     remote run', 'no data: no local run', 'no data: no untraced
--     throughput'.

with

errors as (
    select batch_id, run_id, error from runs
),

rq4_runs as (
    select c.*, e.error
    from run_config as c
    left join errors as e
        on e.batch_id = c.batch_id and e.run_id = c.run_id
    where c.rq = 'rq4'
),

placed as (
    select * from rq4_runs
    where status <> 'unavailable' or patch is not null
),

-- A run the collector could not place may carry no settings (it never
-- ran): it counts for every group of its batch; one with settings counts
-- for its own group only.
unplaced as (
    select * from rq4_runs
    where status = 'unavailable' and patch is null
),

groups as (
    select
        gpu_name, patch, depth, hidden, resolution, batch_size, compile_mode, pipeline, preprocess,
        list(distinct batch_id) as batch_ids,
        count(*) filter (where status = 'ok') as runs_ok,
        count(*) filter (where status = 'unavailable') as runs_unavailable,
        min(error) filter (where status = 'unavailable') as unavailable_reason,
        min(config_id) filter (where status = 'ok' and numa_placement = 'local') as local_config_id,
        min(config_id) filter (where status = 'ok' and numa_placement = 'remote') as remote_config_id,
        min(config_id) filter (where status = 'ok' and numa_placement is distinct from 'local'
            and numa_placement is distinct from 'remote') as unbound_config_id
    from placed
    group by all
),

unplaced_per_group as (
    select
        g.gpu_name, g.patch, g.depth, g.hidden, g.resolution, g.batch_size,
        g.compile_mode, g.pipeline, g.preprocess,
        count(*) as runs,
        min(u.error) as reason
    from groups as g
    join unplaced as u
        on list_contains(g.batch_ids, u.batch_id)
    group by all
),

with_unplaced as (
    select
        g.* exclude (runs_unavailable, unavailable_reason, batch_ids),
        g.runs_unavailable + coalesce(x.runs, 0) as runs_unavailable,
        coalesce(g.unavailable_reason, x.reason) as unavailable_reason
    from groups as g
    left join unplaced_per_group as x
        on  x.gpu_name is not distinct from g.gpu_name
        and x.patch is not distinct from g.patch
        and x.depth is not distinct from g.depth
        and x.hidden is not distinct from g.hidden
        and x.resolution is not distinct from g.resolution
        and x.batch_size is not distinct from g.batch_size
        and x.compile_mode is not distinct from g.compile_mode
        and x.pipeline is not distinct from g.pipeline
        and x.preprocess is not distinct from g.preprocess
),

-- unplaced runs of a batch without any other rq4 run still say no data
orphans as (
    select
        any_value(u.gpu_name) as gpu_name,
        null::integer as patch, null::integer as depth, null::integer as hidden,
        null::integer as resolution, null::integer as batch_size,
        null::varchar as compile_mode, null::varchar as pipeline, null::varchar as preprocess,
        0 as runs_ok,
        null::varchar as local_config_id, null::varchar as remote_config_id,
        null::varchar as unbound_config_id,
        count(*) as runs_unavailable,
        min(u.error) as unavailable_reason
    from unplaced as u
    where not exists (
        select 1 from groups as g where list_contains(g.batch_ids, u.batch_id)
    )
    group by u.batch_id
),

all_groups as (
    select * from with_unplaced
    union all by name
    select * from orphans
),

summary as (
    select * from config_summary
),

joined as (
    select
        g.*,
        l.clean_throughput as local_throughput,
        l.clean_throughput_lo as local_lo,
        l.clean_throughput_hi as local_hi,
        l.clean_throughput_n as local_n,
        r.clean_throughput as remote_throughput,
        r.clean_throughput_lo as remote_lo,
        r.clean_throughput_hi as remote_hi,
        r.clean_throughput_n as remote_n,
        u.clean_throughput as unbound_throughput
    from all_groups as g
    left join summary as l on l.config_id = g.local_config_id
    left join summary as r on r.config_id = g.remote_config_id
    left join summary as u on u.config_id = g.unbound_config_id
),

stats as (
    select * from config_stats
),

-- the ratio's interval over both sides' runs
ratio_pairs as (
    select distinct local_config_id as a, remote_config_id as b, 'clean_throughput' as metric
    from joined
    where local_config_id is not null and remote_config_id is not null
),

ratio_intervals as (
    select * from ratio_ci('ratio_pairs', 'stats', 0.95)
),

with_ci as (
    select j.*, c.ratio_lo as ci_lo, c.ratio_hi as ci_hi
    from joined as j
    left join ratio_intervals as c
        on c.a = j.local_config_id and c.b = j.remote_config_id
),

final as (
    select
        gpu_name,
        'p' || patch || ' d' || depth || ' h' || hidden as model,
        patch,
        depth,
        hidden,
        resolution,
        batch_size,
        round(local_throughput, 1) as local_throughput,
        round(local_lo, 1) as local_lo,
        round(local_hi, 1) as local_hi,
        local_n,
        round(remote_throughput, 1) as remote_throughput,
        round(remote_lo, 1) as remote_lo,
        round(remote_hi, 1) as remote_hi,
        remote_n,
        round(local_throughput / nullif(remote_throughput, 0), 4) as ratio,
        round(ci_lo, 4) as ratio_lo,
        round(ci_hi, 4) as ratio_hi,
        round(unbound_throughput, 1) as unbound_throughput,
        runs_ok,
        runs_unavailable,
        case
            when local_throughput is not null and remote_throughput is not null then 'measured'
            when remote_config_id is null and runs_unavailable > 0
                then 'no data: ' || coalesce(unavailable_reason, 'remote placement unavailable on this host')
            when remote_config_id is null then 'no data: no remote run'
            when local_config_id is null then 'no data: no local run'
            else 'no data: no untraced throughput'
        end as status
    from with_ci
    order by gpu_name, patch, depth, hidden, resolution, batch_size, compile_mode, pipeline, preprocess
)

select * from final
