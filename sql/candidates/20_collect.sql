-- Candidates, step 2: the collector. One row per (customer, article) with each source's score
-- and rank (NULL: not proposed by it), capped at $n_candidates per customer ($n_inactive for a
-- customer with no purchase in the window, whose sources are the popular ones and the two-tower):
-- candidates are taken by their best rank over the sources, each rank divided by its source's
-- quota, so every source keeps its share of the list -> temp table cand.
-- reads: src, wanted, pop_wide, cust_ctx
-- writes: cand
-- params: $bt_k, $n_candidates, $n_inactive, $pop_k, $rep_k, $rising_k, $sp_k, $ts_k, $tt_k
CREATE OR REPLACE TEMP TABLE cand AS
WITH personal AS (
    SELECT customer_idx, article_id,
           max(score) FILTER (WHERE source = 'repurchase') AS rep_score,
           min(rank) FILTER (WHERE source = 'repurchase') AS rep_rank,
           max(score) FILTER (WHERE source = 'same_product') AS sp_score,
           min(rank) FILTER (WHERE source = 'same_product') AS sp_rank,
           max(score) FILTER (WHERE source = 'bought_together') AS bt_score,
           min(rank) FILTER (WHERE source = 'bought_together') AS bt_rank,
           max(score) FILTER (WHERE source = 'two_tower') AS tt_score,
           min(rank) FILTER (WHERE source = 'two_tower') AS tt_rank,
           max(score) FILTER (WHERE source = 'two_tower_similar') AS ts_score,
           min(rank) FILTER (WHERE source = 'two_tower_similar') AS ts_rank,
           count(DISTINCT source) AS n_personal
    FROM src GROUP BY customer_idx, article_id
), popular AS (
    SELECT w.customer_idx, p.* EXCLUDE (band) FROM wanted w JOIN pop_wide p ON p.band = w.band
), wide AS (
    SELECT coalesce(a.customer_idx, b.customer_idx) AS customer_idx,
           coalesce(a.article_id, b.article_id) AS article_id,
           a.rep_score, a.rep_rank, a.sp_score, a.sp_rank, a.bt_score, a.bt_rank,
           b.pop_score, b.pop_src_rank, b.band_score, b.band_src_rank, b.rising_score, b.rising_rank,
           a.tt_score, a.tt_rank, a.ts_score, a.ts_rank, coalesce(a.n_personal, 0) + coalesce(b.n_popular, 0) AS n_sources
    FROM personal a FULL OUTER JOIN popular b
      ON a.customer_idx = b.customer_idx AND a.article_id = b.article_id
)
SELECT wide.*, CAST(row_number() OVER (PARTITION BY wide.customer_idx ORDER BY least(
           coalesce(rep_rank / $rep_k, 9), coalesce(sp_rank / $sp_k, 9), coalesce(bt_rank / $bt_k, 9),
           coalesce(pop_src_rank / $pop_k, 9), coalesce(band_src_rank / $pop_k, 9),
           coalesce(rising_rank / $rising_k, 9), coalesce(tt_rank / $tt_k, 9),
           coalesce(ts_rank / $ts_k, 9)), n_sources DESC, wide.article_id)
           AS INTEGER) AS cand_rank
FROM wide LEFT JOIN cust_ctx cc ON cc.customer_idx = wide.customer_idx
QUALIFY cand_rank <= CASE WHEN cc.customer_idx IS NULL THEN $n_inactive ELSE $n_candidates END;
