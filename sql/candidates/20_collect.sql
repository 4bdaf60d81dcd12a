-- Candidates, step 2: the collector. One row per (customer, article) with each source's score
-- and rank (NULL: not proposed by it), capped at $n_candidates per customer ($n_inactive for a
-- customer with no purchase in the window, whose sources are the popular ones and the two-tower):
-- candidates are taken by their best rank over the sources, each rank divided by its source's
-- quota (temp table quotas(source, quota)), so every source keeps its share of the list; ties go
-- to the article more sources proposed (a source proposes an article once), then the lower id.
-- The per-band proposals (src_band) are pivoted once per band, not once per customer. The cap is
-- decided on narrow rows (customer, article, best rank, number of sources) first, and only the
-- pairs kept are pivoted ({{source_columns}}; {{merged_columns}} takes each column from the
-- per-customer or the per-band side, whichever has it): most proposals are cut, and pivoting
-- them all cost a third more. Both fills come from the registry (candidates.SOURCES).
-- reads: src, src_band, quotas, wanted, cust_ctx
-- writes: cand
-- params: $n_candidates, $n_inactive
CREATE OR REPLACE TEMP TABLE cand AS
WITH banded AS (
    SELECT s.band, s.article_id, min(s.rank / q.quota) AS best, {{source_columns}},
           count(*) AS n_sources
    FROM src_band s JOIN quotas q ON q.source = s.source
    GROUP BY s.band, s.article_id
), proposals AS (
    SELECT s.customer_idx, s.article_id, s.rank / q.quota AS best, 1 AS n_sources
    FROM src s JOIN quotas q ON q.source = s.source
    UNION ALL
    SELECT w.customer_idx, b.article_id, b.best, b.n_sources FROM wanted w JOIN banded b ON b.band = w.band
), kept AS (
    SELECT p.customer_idx, p.article_id, min(p.best) AS best, sum(p.n_sources) AS n_sources
    FROM proposals p GROUP BY p.customer_idx, p.article_id
), ranked AS (
    SELECT k.customer_idx, k.article_id, k.n_sources,
           CAST(row_number() OVER (PARTITION BY k.customer_idx ORDER BY k.best, k.n_sources DESC, k.article_id)
                AS INTEGER) AS cand_rank
    FROM kept k LEFT JOIN cust_ctx cc ON cc.customer_idx = k.customer_idx
    QUALIFY cand_rank <= CASE WHEN cc.customer_idx IS NULL THEN $n_inactive ELSE $n_candidates END
), personal AS (
    SELECT s.customer_idx, s.article_id, {{source_columns}}
    FROM src s SEMI JOIN ranked k ON k.customer_idx = s.customer_idx AND k.article_id = s.article_id
    GROUP BY s.customer_idx, s.article_id
)
SELECT k.customer_idx, k.article_id, k.cand_rank, {{merged_columns}}, CAST(k.n_sources AS BIGINT) AS n_sources
FROM ranked k
JOIN wanted w ON w.customer_idx = k.customer_idx
LEFT JOIN personal p ON p.customer_idx = k.customer_idx AND p.article_id = k.article_id
LEFT JOIN banded b ON b.band = w.band AND b.article_id = k.article_id;
