-- Ranking features of temp table cand (20_collect.sql) at the same cut-off, from the context of
-- 00_context.sql only (rows up to the cut-off): customer, article and customer-article pair
-- features, one row per candidate, ordered by customer then collector rank (the ranker's groups).
-- The two-tower's dot product is added in Python from the saved embeddings.
-- The customers' own features are gathered once per customer first, then joined to each candidate.
-- reads: cand, wanted, customers, hist, art_ctx, band_pop, cust_ctx, cust_all, cust_pt, cust_ig, cust_dep, cust_col, cust_prod
-- writes: wanted_feat (returns customer_idx, article_id, then band, cand_rank and every feature as FLOAT)
-- params: none
CREATE OR REPLACE TEMP TABLE wanted_feat AS
SELECT w.customer_idx, w.band, CAST(cu.age AS DOUBLE) AS age, cu.fn, cu.active, cu.club_member_status,
       cu.fashion_news_frequency,
       coalesce(cc.n_hist, 0) AS cust_n_hist, coalesce(cc.n_7d, 0) AS cust_n_7d,
       coalesce(cc.n_28d, 0) AS cust_n_28d, coalesce(cc.n_articles, 0) AS cust_n_articles,
       coalesce(cc.n_days, 0) AS cust_n_days, cc.online_share AS cust_online_share,
       cc.mean_price AS cust_mean_price, coalesce(ca.n_all, 0) AS cust_n_all,
       ca.days_since_last AS cust_days_since_last
FROM wanted w
JOIN customers cu ON cu.customer_idx = w.customer_idx
LEFT JOIN cust_ctx cc ON cc.customer_idx = w.customer_idx
LEFT JOIN cust_all ca ON ca.customer_idx = w.customer_idx;

-- (each per-customer context table cut to these customers first: small hash tables to probe)
WITH mine_pt AS (SELECT * FROM cust_pt SEMI JOIN wanted USING (customer_idx)),
mine_ig AS (SELECT * FROM cust_ig SEMI JOIN wanted USING (customer_idx)),
mine_dep AS (SELECT * FROM cust_dep SEMI JOIN wanted USING (customer_idx)),
mine_col AS (SELECT * FROM cust_col SEMI JOIN wanted USING (customer_idx)),
mine_prod AS (SELECT * FROM cust_prod SEMI JOIN wanted USING (customer_idx)),
mine_rep AS (SELECT customer_idx, article_id, count(*) AS n, min(age_days) AS age_days
             FROM hist SEMI JOIN wanted USING (customer_idx) GROUP BY ALL)
-- every feature as FLOAT, NULL as NaN (LightGBM's missing value): plain float32 arrays to fetch
SELECT customer_idx, article_id,
       coalesce(CAST(COLUMNS(* EXCLUDE (customer_idx, article_id)) AS FLOAT), CAST('NaN' AS FLOAT))
FROM (
SELECT
    c.customer_idx, c.article_id, w.band,
    -- cand_rank, each source's score and rank (NULL: not proposed by it), n_sources
    c.* EXCLUDE (customer_idx, article_id),
    -- customer
    w.age, w.fn, w.active, w.club_member_status, w.fashion_news_frequency, w.cust_n_hist, w.cust_n_7d,
    w.cust_n_28d, w.cust_n_articles, w.cust_n_days, w.cust_online_share, w.cust_mean_price,
    w.cust_n_all, w.cust_days_since_last,
    -- article
    a.product_type, a.product_group, a.colour_group, a.department, a.index_group, a.section,
    a.garment_group, a.graphical_appearance, a.perceived_colour_master,
    a.sales_1d, a.sales_7d, a.sales_prev_7d, a.sales_28d, a.sales_all, a.trend, a.price_hist,
    a.art_online_share, a.days_since_first_sale, a.pop_rank,
    -- pair
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
