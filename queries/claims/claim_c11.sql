-- name: claim_c11
-- description: C11 units: each compiled mode against eager (equal in all else) with a compile time; compile time minus the time the mode saves over the images it must pay back within, > 0.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C11 "Compilation overhead outweighs its benefit": break-even images
-- (compile_s / per-image saving, saving = 1/thr(eager) - 1/thr(mode))
-- exceed the images to pay back (c11_images, else the compiled
-- configuration's median images in the timed window). Tested as the
-- margin compile_s - images x saving in seconds, a contrast of the mode's
-- compile times and both sides' seconds per image (inv transform): holds
-- when > 0 (also when the mode is surely not faster), refuted when < 0
-- (test beyond 0, raw scale). The evidence gives the break-even images.
create or replace macro claim_c11(configs, stats) as table
with
    pairs as (
        select
            e.config_id as cfg_eager,
            m.config_id as cfg_mode,
            m.compile_mode as mode,
            e.thr as thr_eager,
            m.thr as thr_mode,
            m.comp,
            m.comp_n,
            coalesce(getvariable('c11_images'), m.images)::double as images,
            1 / e.thr - 1 / m.thr as saving
        from query_table(configs) as e
        join query_table(configs) as m
            on m.k_mode = e.k_mode
        where e.compile_mode = 'eager'
            and m.compile_mode <> 'eager'
            and e.thr > 0 and m.thr > 0
            and m.comp is not null
            and coalesce(getvariable('c11_images'), m.images) is not null
    )
select
    'C11' as claim_id,
    mode || ' ' || cfg_mode || ' against eager ' || cfg_eager as unit,
    'beyond' as test,
    0.0 as edge_lo,
    0.0 as edge_hi,
    'raw' as scale,
    [
        contrast_term(cfg_mode, 'compile_s', 1, 'raw'),
        contrast_term(cfg_eager, 'clean_throughput', -images, 'inv'),
        contrast_term(cfg_mode, 'clean_throughput', images, 'inv')
    ] as terms,
    's (compile time - time saved)' as value_unit,
    mode || ' ' || cfg_mode || ' against eager ' || cfg_eager || ': compile ' || printf('%.1f', comp) || ' s n=' || comp_n
        || ', saving ' || printf('%.3f', saving * 1e6) || ' us/img, break-even '
        || case when saving > 0 then printf('%.0f', comp / saving) else 'never' end
        || ' images vs ' || printf('%.0f', images) || ' images, margin (s)' as evidence
from pairs;
