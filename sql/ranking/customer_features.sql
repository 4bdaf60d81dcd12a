-- Ranking features, part 1: the customers' own features, one row per customer of temp table
-- wanted at the context's cut-off (00_context.sql, rows up to the cut-off only); kept as temp
-- table wanted_feat for the pair features (pair_features.sql). ranker.features_of gives each
-- candidate its customer's row.
-- reads: wanted, customers, cust_ctx, cust_all
-- writes: wanted_feat (returns customer_idx, then band and every feature as FLOAT, NULL as NaN)
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

SELECT customer_idx, coalesce(CAST(COLUMNS(* EXCLUDE (customer_idx)) AS FLOAT), CAST('NaN' AS FLOAT))
FROM wanted_feat ORDER BY customer_idx;
