-- name: per_gpu
-- description: On a batch collected on several GPUs of one host (vitlab collect --gpus): for every configuration run on two or more GPUs, each GPU's median clean throughput beside its peers' (the other GPUs' runs), their interval, the ratio GPU/peers with its interval, and whether the GPU lies outside its peers; too few runs say inconclusive.
-- inputs: run_config, runs, run_values, runs_left_out
-- rq: -
--
-- A configuration is the settings_key of run_config (the effective
-- settings alone, as compare_batches matches them) on one GPU model
-- (gpu_name) in one batch: GPUs of one batch ran the same plan side by
-- side, so they share the host, the session and the software, and what is
-- left to differ is the GPU and its place on the host (NUMA node, PCIe
-- switch, power and cooling). A GPU is runs.gpu_uuid (else its index).
-- Runs of other batches are never pooled in: a configuration with one GPU
-- in its batch (every shipped sample batch) gives no row.
--
-- The unit is the run (run_values: usable runs only). Per GPU:
--   clean_throughput  the median of its runs' clean throughput (img/s);
--   runs, left_out    its usable runs, and its ok runs that usable_runs
--                     leaves out (left_reasons: the runs_left_out reasons;
--                     forward_slow compares a run with the runs of the
--                     same model on the same card, so a card slower than
--                     its peers keeps its runs and is compared here);
--   peer_*            its peers: the usable runs of the configuration on
--                     the batch's other GPUs, pooled: peer_median, and
--                     peer_lo, peer_hi the peers' own 95 % t interval on
--                     log run values (the interval of config_stats,
--                     shown for reading).
-- Comparison (docs/statistics.md: a comparison's interval is computed on
-- the comparison itself over both sides' runs, never by setting a value
-- against another side's interval): vs_peers = exp(mean ln GPU − mean ln
-- peers), the ratio of geometric means, in [vs_peers_lo, vs_peers_hi]:
-- Welch's t on log run values with Welch–Satterthwaite degrees of freedom
-- (welch_df, t_quantiles, t_interval), as compare_batches. The intervals of
-- one configuration's GPUs hold together (Bonferroni over its m compared
-- GPUs: level 1 − 0.05 / m, conf_level), so on a host whose GPUs are
-- alike a configuration flags a GPU by chance at most 5 % of the time.
-- outside_peers is true when that interval excludes 1 (verdict 'slower
-- than peers' or 'faster than peers'), false when it holds 1 ('within
-- peers'), null with verdict 'inconclusive' when the GPU or its pooled
-- peers have fewer than 2 usable runs (reason says which, and how many
-- runs were left out and why).

with

run_gpus as (
    select batch_id, run_id, gpu_index, gpu_uuid
    from runs
    where gpu_uuid is not null or gpu_index is not null
),

configs as (
    select batch_id, run_id, settings_key, rq, gpu_name
    from run_config
    where status = 'ok' and settings_key is not null
),

throughputs as (
    select batch_id, run_id, v
    from run_values
    where metric = 'clean_throughput' and v > 0
),

left_reasons as (
    select batch_id, run_id, string_agg(distinct reason, ', ' order by reason) as reasons
    from runs_left_out
    group by batch_id, run_id
),

-- every ok run with its GPU; v is null for a run that gave no value
ok_runs as (
    select
        c.batch_id,
        c.run_id,
        c.settings_key,
        c.rq,
        coalesce(c.gpu_name, '') as gpu_name,
        g.gpu_index,
        g.gpu_uuid,
        coalesce(g.gpu_uuid, 'index ' || g.gpu_index) as gpu_key,
        t.v,
        case when t.v is null then coalesce(l.reasons, 'no value') end as left_reason
    from configs as c
    join run_gpus as g
        on g.batch_id = c.batch_id and g.run_id = c.run_id
    left join throughputs as t
        on t.batch_id = c.batch_id and t.run_id = c.run_id
    left join left_reasons as l
        on l.batch_id = c.batch_id and l.run_id = c.run_id
),

-- configurations run on two or more GPUs of one batch
shared as (
    select batch_id, settings_key, gpu_name
    from ok_runs
    group by batch_id, settings_key, gpu_name
    having count(distinct gpu_key) >= 2
),

per_gpu as (
    select
        o.batch_id,
        o.settings_key,
        o.gpu_name,
        o.gpu_key,
        any_value(o.rq) as rq,
        min(o.gpu_index) as gpu_index,
        any_value(o.gpu_uuid) as gpu_uuid,
        count(o.v) as runs,
        count(*) - count(o.v) as left_out,
        string_agg(distinct o.left_reason, ', ' order by o.left_reason) as left_reasons,
        median(o.v) as clean_throughput,
        avg(ln(o.v)) as log_mean,
        var_samp(ln(o.v)) as log_var
    from ok_runs as o
    semi join shared as s
        on s.batch_id = o.batch_id and s.settings_key = o.settings_key and s.gpu_name = o.gpu_name
    group by o.batch_id, o.settings_key, o.gpu_name, o.gpu_key
),

-- each GPU's peers: the usable runs of the batch's other GPUs, pooled
peers as (
    select
        g.batch_id,
        g.settings_key,
        g.gpu_name,
        g.gpu_key,
        count(distinct o.gpu_key) filter (where o.v is not null) as peer_gpus,
        count(o.v) as peer_runs,
        median(o.v) as peer_median,
        avg(ln(o.v)) as peer_log_mean,
        var_samp(ln(o.v)) as peer_log_var
    from per_gpu as g
    join ok_runs as o
        on o.batch_id = g.batch_id and o.settings_key = g.settings_key and o.gpu_name = g.gpu_name
       and o.gpu_key <> g.gpu_key
    group by g.batch_id, g.settings_key, g.gpu_name, g.gpu_key
),

compared as (
    select
        g.*,
        p.peer_gpus,
        p.peer_runs,
        p.peer_median,
        p.peer_log_mean,
        p.peer_log_var,
        g.runs >= 2 and p.peer_runs >= 2 as decidable
    from per_gpu as g
    join peers as p
        on p.batch_id = g.batch_id and p.settings_key = g.settings_key and p.gpu_name = g.gpu_name
       and p.gpu_key = g.gpu_key
),

family as (
    select batch_id, settings_key, gpu_name, count(*) filter (where decidable) as m
    from compared
    group by batch_id, settings_key, gpu_name
),

-- the peers' own 95 % interval, as config_stats: t(0.975, n − 1)
peer_args as (
    select *, 0.975 as p, peer_runs - 1 as df
    from compared
),

peer_t as (
    select * exclude (p, df, t), t as t_peer
    from t_quantiles('peer_args')
),

welch_terms as (
    select
        p.*,
        f.m,
        1 - 0.05 / greatest(f.m, 1) as level,
        case when p.decidable then p.log_var / p.runs + p.peer_log_var / p.peer_runs end as w,
        case when p.decidable then
            pow(p.log_var / p.runs, 2) / (p.runs - 1) + pow(p.peer_log_var / p.peer_runs, 2) / (p.peer_runs - 1) end as w2
    from peer_t as p
    join family as f
        on f.batch_id = p.batch_id and f.settings_key = p.settings_key and f.gpu_name = p.gpu_name
),

-- the (1 + level) / 2 quantile of t with the Welch df
welch_args as (
    select *, 1 - (1 - level) / 2 as p, welch_df(w, w2, least(runs, peer_runs) - 1) as df
    from welch_terms
),

intervals as (
    select
        * exclude (p, df, t),
        case when peer_runs >= 2 then exp(t_interval(peer_log_mean, sqrt(peer_log_var / peer_runs), t_peer).lo) end as peer_lo,
        case when peer_runs >= 2 then exp(t_interval(peer_log_mean, sqrt(peer_log_var / peer_runs), t_peer).hi) end as peer_hi,
        case when runs >= 1 and peer_runs >= 1 then exp(log_mean - peer_log_mean) end as vs_peers,
        case when decidable then exp(t_interval(log_mean - peer_log_mean, sqrt(w), t).lo) end as vs_peers_lo,
        case when decidable then exp(t_interval(log_mean - peer_log_mean, sqrt(w), t).hi) end as vs_peers_hi
    from t_quantiles('welch_args')
),

judged as (
    select
        *,
        case
            when not decidable then null
            when vs_peers_hi < 1 or vs_peers_lo > 1 then true
            else false
        end as outside_peers,
        case
            when not decidable then 'inconclusive'
            when vs_peers_hi < 1 then 'slower than peers'
            when vs_peers_lo > 1 then 'faster than peers'
            else 'within peers'
        end as verdict,
        case when left_out > 0 then format('; {} run(s) of this GPU left out ({})', left_out, left_reasons) else '' end as left_text
    from intervals
),

final as (
    select
        batch_id,
        settings_key as config,
        rq,
        nullif(gpu_name, '') as gpu_name,
        gpu_index,
        gpu_uuid,
        runs,
        left_out,
        clean_throughput,
        peer_gpus,
        peer_runs,
        peer_median,
        peer_lo,
        peer_hi,
        vs_peers,
        vs_peers_lo,
        vs_peers_hi,
        case when decidable then level end as conf_level,
        outside_peers,
        verdict,
        case
            when runs < 2 or peer_runs < 2 then
                format('this GPU has {} usable run(s), its peers {} on {} GPU(s): an interval needs >= 2 runs a side{}{}',
                    runs, peer_runs, peer_gpus,
                    case when vs_peers is not null then format('; the estimate is {:.3f} ({:+.1f} %)', vs_peers, 100 * (vs_peers - 1)) else '' end,
                    left_text)
            when outside_peers then
                format('{:+.1f} % against its peers'' runs, interval [{:.3f}, {:.3f}] excludes 1{}',
                    100 * (vs_peers - 1), vs_peers_lo, vs_peers_hi, left_text)
            else
                format('interval [{:.3f}, {:.3f}] holds 1{}', vs_peers_lo, vs_peers_hi, left_text)
        end as reason,
        case
            when decidable then format('median of {} runs against {} runs of {} other GPU(s); Welch t on log run values, Bonferroni over {} GPU(s) (simultaneous 95 %)',
                runs, peer_runs, peer_gpus, m)
            else format('median of {} run(s) against {} run(s) of {} other GPU(s); no interval (n < 2 runs a side)', runs, peer_runs, peer_gpus)
        end as method
    from judged
    order by batch_id, config, gpu_name, gpu_index nulls last, gpu_uuid
)

select * from final
