-- Customer features as of a date, point in time: from temp table asof_customers(customer_idx,
-- asof_date) and the transactions strictly before asof_date -> temp table customer_features. Nothing
-- on or after asof_date is read, so a training example never sees its own purchase or anything later.
-- The scratch temp tables feat_hist, hist_agg and hist_tops are dropped at the end (not named hist:
-- that is a context table of candidates/00_context.sql, which a serving connection holds).
-- reads: asof_customers, transactions, articles, customers
-- writes: feat_hist, hist_agg, hist_tops, customer_features
-- params: $history_days
CREATE OR REPLACE TEMP TABLE feat_hist AS
SELECT q.customer_idx, q.asof_date, t.t_dat, t.article_id, t.price, t.channel
FROM asof_customers q
JOIN transactions t ON t.customer_idx = q.customer_idx AND t.t_dat < q.asof_date
                   AND t.t_dat >= q.asof_date - $history_days;

CREATE OR REPLACE TEMP TABLE hist_agg AS
SELECT customer_idx, asof_date,
       count(*) AS n_all,
       count(*) FILTER (WHERE t_dat >= asof_date - 28) AS n_28,
       asof_date - max(t_dat) AS days_since,
       avg(price) AS mean_price,
       avg(CASE WHEN channel = 2 THEN 1.0 ELSE 0.0 END) AS online_share,
       list(article_id ORDER BY t_dat DESC, article_id DESC) AS recent
FROM feat_hist GROUP BY customer_idx, asof_date;

CREATE OR REPLACE TEMP TABLE hist_tops AS
WITH counted AS (
    SELECT h.customer_idx, h.asof_date, a.section, a.index_group, a.product_type, count(*) AS n
    FROM feat_hist h JOIN articles a USING (article_id)
    GROUP BY h.customer_idx, h.asof_date, a.section, a.index_group, a.product_type
)
SELECT customer_idx, asof_date,
       arg_max(section, n * 100000 + section) AS top_section,
       arg_max(index_group, n * 100000 + index_group) AS top_index_group,
       arg_max(product_type, n * 100000 + product_type) AS top_product_type
FROM counted GROUP BY customer_idx, asof_date;

CREATE OR REPLACE TEMP TABLE customer_features AS
SELECT q.customer_idx, q.asof_date,
       CAST(coalesce(c.age, 0) AS FLOAT) / 100 AS age,
       CAST(c.age IS NULL AS FLOAT) AS age_missing,
       CAST(c.fn AS FLOAT) AS fn,
       CAST(c.active AS FLOAT) AS active,
       CAST(c.club_member_status AS INTEGER) AS club_member_status,
       CAST(c.fashion_news_frequency AS INTEGER) AS fashion_news_frequency,
       CAST(ln(1 + coalesce(g.n_all, 0)) AS FLOAT) AS log_n_all,
       CAST(ln(1 + coalesce(g.n_28, 0)) AS FLOAT) AS log_n_28,
       CAST(ln(1 + coalesce(g.days_since, $history_days)) / ln(1 + $history_days) AS FLOAT) AS recency,
       CAST(g.n_all IS NULL AS FLOAT) AS no_history,
       CAST(coalesce(g.mean_price, 0) * 30 AS FLOAT) AS mean_price,
       CAST(coalesce(g.online_share, 0.5) AS FLOAT) AS online_share,
       CAST(coalesce(s.top_section, 0) AS INTEGER) AS top_section,
       CAST(coalesce(s.top_index_group, 0) AS INTEGER) AS top_index_group,
       CAST(coalesce(s.top_product_type, 0) AS INTEGER) AS top_product_type,
       coalesce(g.recent[1], 0) AS recent_1, coalesce(g.recent[2], 0) AS recent_2,
       coalesce(g.recent[3], 0) AS recent_3, coalesce(g.recent[4], 0) AS recent_4,
       coalesce(g.recent[5], 0) AS recent_5, coalesce(g.recent[6], 0) AS recent_6,
       coalesce(g.recent[7], 0) AS recent_7, coalesce(g.recent[8], 0) AS recent_8
FROM asof_customers q
JOIN customers c USING (customer_idx)
LEFT JOIN hist_agg g USING (customer_idx, asof_date)
LEFT JOIN hist_tops s USING (customer_idx, asof_date);

DROP TABLE feat_hist;
DROP TABLE hist_agg;
DROP TABLE hist_tops;
