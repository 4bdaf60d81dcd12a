-- Candidates, step 2: the collector. One row per (customer, article) with each source's score
-- and rank (NULL: not proposed by it), capped at $n_candidates per customer ($n_inactive for a
-- customer with no purchase in the window, whose sources are the popular ones and the two-tower):
-- candidates are taken by their best rank over the sources, each rank divided by its source's
-- quota, so every source keeps its share of the list -> temp table cand.
CREATE OR REPLACE TEMP TABLE cand AS
WITH wide AS (
    SELECT customer_idx, article_id,
           max(score) FILTER (WHERE source = 'repurchase') AS rep_score,
           min(rank) FILTER (WHERE source = 'repurchase') AS rep_rank,
           max(score) FILTER (WHERE source = 'same_product') AS sp_score,
           min(rank) FILTER (WHERE source = 'same_product') AS sp_rank,
           max(score) FILTER (WHERE source = 'bought_together') AS bt_score,
           min(rank) FILTER (WHERE source = 'bought_together') AS bt_rank,
           max(score) FILTER (WHERE source = 'popular') AS pop_score,
           min(rank) FILTER (WHERE source = 'popular') AS pop_src_rank,
           max(score) FILTER (WHERE source = 'popular_band') AS band_score,
           min(rank) FILTER (WHERE source = 'popular_band') AS band_src_rank,
           max(score) FILTER (WHERE source = 'rising') AS rising_score,
           min(rank) FILTER (WHERE source = 'rising') AS rising_rank,
           max(score) FILTER (WHERE source = 'two_tower') AS tt_score,
           min(rank) FILTER (WHERE source = 'two_tower') AS tt_rank,
           count(DISTINCT source) AS n_sources
    FROM src GROUP BY customer_idx, article_id
)
SELECT wide.*, CAST(row_number() OVER (PARTITION BY wide.customer_idx ORDER BY least(
           coalesce(rep_rank / $rep_k, 9), coalesce(sp_rank / $sp_k, 9), coalesce(bt_rank / $bt_k, 9),
           coalesce(pop_src_rank / $pop_k, 9), coalesce(band_src_rank / $pop_k, 9),
           coalesce(rising_rank / $rising_k, 9), coalesce(tt_rank / $tt_k, 9)), n_sources DESC, wide.article_id)
           AS INTEGER) AS cand_rank
FROM wide LEFT JOIN cust_ctx cc ON cc.customer_idx = wide.customer_idx
QUALIFY cand_rank <= CASE WHEN cc.customer_idx IS NULL THEN $n_inactive ELSE $n_candidates END;
