-- Step 5: derived tables over all transactions: meta (data dates), per-article and per-customer
-- aggregates, and weekly sales per article (week 0 = the last 7 days of the data).
-- reads: transactions
-- writes: meta, article_stats, customer_stats, weekly_article_sales
-- params: none
CREATE TABLE meta AS
SELECT 'first_date' AS key, CAST(min(t_dat) AS VARCHAR) AS value FROM transactions
UNION ALL SELECT 'last_date', CAST(max(t_dat) AS VARCHAR) FROM transactions;

CREATE TABLE article_stats AS
SELECT article_id, count(*) AS n_sales, min(t_dat) AS first_sale, max(t_dat) AS last_sale, avg(price) AS mean_price
FROM transactions GROUP BY article_id ORDER BY article_id;

CREATE TABLE customer_stats AS
SELECT customer_idx, count(*) AS n_purchases, min(t_dat) AS first_purchase, max(t_dat) AS last_purchase, avg(price) AS mean_price,
       avg(CASE WHEN channel = 2 THEN 1.0 ELSE 0.0 END) AS online_share
FROM transactions GROUP BY customer_idx ORDER BY customer_idx;

CREATE TABLE weekly_article_sales AS
SELECT CAST((m.last_date - t.t_dat) // 7 AS INTEGER) AS week, t.article_id, count(*) AS n_sales
FROM transactions t, (SELECT max(t_dat) AS last_date FROM transactions) m
GROUP BY week, t.article_id ORDER BY week, n_sales DESC, article_id;
