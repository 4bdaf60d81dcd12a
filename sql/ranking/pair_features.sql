-- Ranking features, part 3: the features of each (customer, article) candidate of temp table cand
-- (the collector's) at the same cut-off, from the context of 00_context.sql only (rows up to the
-- cut-off) and the customers' features of customer_features.sql (wanted_feat): one row per
-- candidate, ordered by customer then collector rank (the ranker's groups). The customer's and the
-- article's own features, and the two-tower's, are joined in Python (ranker.features_of).
-- reads: cand, wanted, wanted_feat, hist, art_ctx, band_pop, cust_pt, cust_ig, cust_dep, cust_col, cust_prod
-- writes: none (returns customer_idx, cand_rank, then every pair feature as FLOAT, NULL as NaN)
-- params: none

-- (each per-customer context table cut to these customers first: small hash tables to probe)
WITH mine_pt AS (SELECT * FROM cust_pt SEMI JOIN wanted USING (customer_idx)),
mine_ig AS (SELECT * FROM cust_ig SEMI JOIN wanted USING (customer_idx)),
mine_dep AS (SELECT * FROM cust_dep SEMI JOIN wanted USING (customer_idx)),
mine_col AS (SELECT * FROM cust_col SEMI JOIN wanted USING (customer_idx)),
mine_prod AS (SELECT * FROM cust_prod SEMI JOIN wanted USING (customer_idx)),
mine_rep AS (SELECT customer_idx, article_id, count(*) AS n, min(age_days) AS age_days
             FROM hist SEMI JOIN wanted USING (customer_idx) GROUP BY ALL)
-- every feature as FLOAT, NULL as NaN (LightGBM's missing value): plain float32 arrays to fetch
SELECT customer_idx, cand_rank,
       coalesce(CAST(COLUMNS(* EXCLUDE (customer_idx, cand_rank)) AS FLOAT), CAST('NaN' AS FLOAT))
FROM (
SELECT
    c.customer_idx, c.cand_rank,
    coalesce(bp.rank, 100000) AS band_pop_rank,
    coalesce(r.n, 0) AS rep_count, r.age_days AS rep_days_since,
    coalesce(pr.n, 0) AS product_count, pr.age_days AS product_days_since,
    coalesce(pt.n, 0) / greatest(w.cust_n_hist, 1) AS share_product_type,
    coalesce(ig.n, 0) / greatest(w.cust_n_hist, 1) AS share_index_group,
    coalesce(dp.n, 0) / greatest(w.cust_n_hist, 1) AS share_department,
    coalesce(co.n, 0) / greatest(w.cust_n_hist, 1) AS share_colour,
    a.price_hist / w.cust_mean_price AS price_ratio,
    abs(a.art_online_share - w.cust_online_share) AS channel_gap
FROM cand c
JOIN wanted_feat w ON w.customer_idx = c.customer_idx
JOIN art_ctx a ON a.article_id = c.article_id
LEFT JOIN band_pop bp ON bp.band = w.band AND bp.article_id = c.article_id
LEFT JOIN mine_rep r ON r.customer_idx = c.customer_idx AND r.article_id = c.article_id
LEFT JOIN mine_prod pr ON pr.customer_idx = c.customer_idx AND pr.product_code = a.product_code
LEFT JOIN mine_pt pt ON pt.customer_idx = c.customer_idx AND pt.product_type = a.product_type
LEFT JOIN mine_ig ig ON ig.customer_idx = c.customer_idx AND ig.index_group = a.index_group
LEFT JOIN mine_dep dp ON dp.customer_idx = c.customer_idx AND dp.department = a.department
LEFT JOIN mine_col co ON co.customer_idx = c.customer_idx AND co.colour_group = a.colour_group
)
ORDER BY customer_idx, cand_rank;
