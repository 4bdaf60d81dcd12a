-- Candidates, step 2: the collector. One row per (customer, article) with each source's score
-- and rank (NULL: not proposed by it), capped at $n_candidates per customer ($n_inactive for a
-- customer with no purchase in the window, whose sources are the popular ones and the two-tower):
-- candidates are taken by their best rank over the sources, each rank divided by its source's
-- quota (temp table quotas(source, quota)), so every source keeps its share of the list; ties go
-- to the article more sources proposed (a source proposes an article once), then the lower id.
-- The per-customer proposals (src) and the per-band ones (src_band, joined to each customer of
-- the band after they are pivoted: a join, not a group of every customer's copy) are pivoted by
-- the same {{source_columns}}, and {{merged_columns}} takes each column from the side that has
-- it; both are filled from the registry (candidates.SOURCES).
-- reads: src, src_band, quotas, wanted, cust_ctx
-- writes: cand
-- params: $n_candidates, $n_inactive
CREATE OR REPLACE TEMP TABLE cand AS
WITH personal AS (
    SELECT s.customer_idx, s.article_id, min(s.rank / q.quota) AS best, {{source_columns}},
           count(*) AS n_sources
    FROM src s JOIN quotas q ON q.source = s.source
    GROUP BY s.customer_idx, s.article_id
), banded AS (
    SELECT s.band, s.article_id, min(s.rank / q.quota) AS best, {{source_columns}},
           count(*) AS n_sources
    FROM src_band s JOIN quotas q ON q.source = s.source
    GROUP BY s.band, s.article_id
), shared AS (
    SELECT w.customer_idx, b.* EXCLUDE (band) FROM wanted w JOIN banded b ON b.band = w.band
), wide AS (
    SELECT coalesce(p.customer_idx, b.customer_idx) AS customer_idx,
           coalesce(p.article_id, b.article_id) AS article_id,
           least(coalesce(p.best, 9), coalesce(b.best, 9)) AS best, {{merged_columns}},
           coalesce(p.n_sources, 0) + coalesce(b.n_sources, 0) AS n_sources
    FROM personal p FULL OUTER JOIN shared b
      ON p.customer_idx = b.customer_idx AND p.article_id = b.article_id
)
SELECT w.customer_idx, w.article_id,
       CAST(row_number() OVER (PARTITION BY w.customer_idx ORDER BY w.best, w.n_sources DESC, w.article_id)
            AS INTEGER) AS cand_rank,
       w.* EXCLUDE (customer_idx, article_id, best)
FROM wide w LEFT JOIN cust_ctx cc ON cc.customer_idx = w.customer_idx
QUALIFY cand_rank <= CASE WHEN cc.customer_idx IS NULL THEN $n_inactive ELSE $n_candidates END;
