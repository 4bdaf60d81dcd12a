-- Candidates, step 1: the personal sources' proposals for the customers of temp table
-- wanted(customer_idx, band), all in one shape src(customer_idx, article_id, source, score, rank),
-- (the popular sources, the same for every customer of an age band, are pop_wide of the context)
-- from the context of 00_context.sql (rows up to the cut-off only). The two-tower's proposals
-- come from FAISS as temp table tt_hits(customer_idx, article_id, score, rank), and its article
-- neighbours as tt_sim(src, dst, sim, rank) (two_tower_similar). Sums of floats are
-- rounded to 9 decimals: DuckDB adds in parallel, in an order that varies from run to run.
-- reads: wanted, hist, cust_prod, art_ctx, cobuy, tt_hits, tt_sim
-- writes: src
-- params: $bt_k, $cobuy_days, $rep_k, $sp_k, $ts_k
CREATE OR REPLACE TEMP TABLE src AS
WITH rep AS (
    SELECT h.customer_idx, h.article_id, round(sum(exp(-h.age_days / 14.0)), 9) AS score,
           min(h.age_days) AS last_age
    FROM hist h SEMI JOIN wanted w ON w.customer_idx = h.customer_idx
    GROUP BY h.customer_idx, h.article_id
), same_product AS (
    SELECT p.customer_idx, a.article_id,
           round(max(exp(-p.age_days / 14.0) * p.n * ln(2 + a.sales_7d)), 9) AS score
    FROM cust_prod p SEMI JOIN wanted w ON w.customer_idx = p.customer_idx
    JOIN art_ctx a ON a.product_code = p.product_code
    WHERE a.sales_28d > 0
    GROUP BY p.customer_idx, a.article_id
), mine AS (
    SELECT h.customer_idx, h.article_id, min(h.age_days) AS age_days
    FROM hist h SEMI JOIN wanted w ON w.customer_idx = h.customer_idx
    WHERE h.age_days < $cobuy_days GROUP BY h.customer_idx, h.article_id
), together AS (
    SELECT m.customer_idx, c.dst AS article_id, round(sum(c.conf * exp(-m.age_days / 14.0)), 9) AS score
    FROM mine m JOIN cobuy c ON c.src = m.article_id
    GROUP BY m.customer_idx, c.dst
), alike AS (
    SELECT m.customer_idx, s.dst AS article_id,
           round(sum(exp(-m.age_days / 14.0) / sqrt(s.rank)), 9) AS score
    FROM mine m JOIN tt_sim s ON s.src = m.article_id
    GROUP BY m.customer_idx, s.dst
)
SELECT customer_idx, article_id, 'repurchase' AS source, score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, last_age, article_id) AS INTEGER) AS rank
FROM rep QUALIFY rank <= $rep_k
UNION ALL
SELECT customer_idx, article_id, 'same_product', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM same_product QUALIFY rank <= $sp_k
UNION ALL
SELECT customer_idx, article_id, 'bought_together', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM together QUALIFY rank <= $bt_k
UNION ALL
SELECT customer_idx, article_id, 'two_tower_similar', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM alike QUALIFY rank <= $ts_k
UNION ALL
SELECT customer_idx, article_id, 'two_tower', score, rank FROM tt_hits;
