-- Candidates, step 0: what every source and feature of one cut-off reads, built once per cut-off
-- from rows dated on or before $cutoff only (point-in-time by construction).
--   hist(customer_idx, article_id, t_dat, price, channel, age_days): the $history_days days up to $cutoff
--   art_ctx: per article, sales over 1/7/28 days, the week before, trend, price, days since first sale
--   band_pop(band, article_id, n, rank): last week's sales per buyer age band (cust_band of
--     00_age_bands.sql; -1, for customers without an age: every buyer's)
--   cobuy(src, dst, n, conf, rank): articles bought by the same customers in the last $cobuy_days days
--   cust_ctx / cust_all: per customer activity in the window / up to the cut-off
--   cust_pt, cust_ig, cust_dep, cust_col, cust_prod: per customer purchases by category / product
-- Float averages are rounded to 9 decimals: DuckDB adds in parallel, in an order that varies.
-- reads: transactions, articles, cust_band
-- writes: hist, art_ctx, band_pop, cobuy, cust_ctx, cust_all, cust_pt, cust_ig, cust_dep, cust_col, cust_prod
-- params: $cobuy_days, $cobuy_k, $cutoff, $history_days
CREATE OR REPLACE TEMP TABLE hist AS
SELECT customer_idx, article_id, t_dat, price, channel,
       CAST(CAST($cutoff AS DATE) - t_dat AS INTEGER) AS age_days
FROM transactions
WHERE t_dat <= CAST($cutoff AS DATE) AND t_dat > CAST($cutoff AS DATE) - $history_days;

CREATE OR REPLACE TEMP TABLE art_ctx AS
WITH s AS (
    SELECT article_id,
           count(*) FILTER (WHERE age_days < 1) AS sales_1d,
           count(*) FILTER (WHERE age_days < 7) AS sales_7d,
           count(*) FILTER (WHERE age_days >= 7 AND age_days < 14) AS sales_prev_7d,
           count(*) FILTER (WHERE age_days < 28) AS sales_28d,
           count(*) AS sales_hist,
           round(avg(price), 9) AS price_hist,
           round(avg(CASE WHEN channel = 2 THEN 1.0 ELSE 0.0 END), 9) AS online_share
    FROM hist GROUP BY article_id
), f AS (
    SELECT article_id, min(t_dat) AS first_sale, count(*) AS sales_all
    FROM transactions WHERE t_dat <= CAST($cutoff AS DATE) GROUP BY article_id
)
SELECT a.article_id, a.product_code, a.product_type, a.product_group, a.colour_group, a.department,
       a.index_group, a.section, a.garment_group, a.graphical_appearance, a.perceived_colour_master,
       coalesce(s.sales_1d, 0) AS sales_1d, coalesce(s.sales_7d, 0) AS sales_7d,
       coalesce(s.sales_prev_7d, 0) AS sales_prev_7d, coalesce(s.sales_28d, 0) AS sales_28d,
       coalesce(s.sales_hist, 0) AS sales_hist, coalesce(f.sales_all, 0) AS sales_all,
       (coalesce(s.sales_7d, 0) + 1.0) / (coalesce(s.sales_prev_7d, 0) + 1.0) AS trend,
       s.price_hist, s.online_share AS art_online_share,
       CAST(CAST($cutoff AS DATE) - f.first_sale AS INTEGER) AS days_since_first_sale,
       CAST(rank() OVER (ORDER BY coalesce(s.sales_7d, 0) DESC) AS INTEGER) AS pop_rank
FROM articles a LEFT JOIN s USING (article_id) LEFT JOIN f USING (article_id);

CREATE OR REPLACE TEMP TABLE band_pop AS
WITH week AS (  -- band -1, the customers without an age, gets every buyer's sales
    SELECT b.band, h.article_id
    FROM hist h JOIN cust_band b USING (customer_idx) WHERE h.age_days < 7 AND b.band >= 0
    UNION ALL
    SELECT -1, article_id FROM hist WHERE age_days < 7
)
SELECT band, article_id, count(*) AS n,
       CAST(row_number() OVER (PARTITION BY band ORDER BY count(*) DESC, article_id) AS INTEGER) AS rank
FROM week GROUP BY band, article_id;

CREATE OR REPLACE TEMP TABLE cobuy AS
WITH recent AS (
    SELECT customer_idx, article_id, min(age_days) AS age_days FROM hist
    WHERE age_days < $cobuy_days GROUP BY customer_idx, article_id
    QUALIFY row_number() OVER (PARTITION BY customer_idx ORDER BY min(age_days), article_id) <= 30
), buyers AS (
    SELECT article_id, count(*) AS n_buyers FROM recent GROUP BY article_id
), pairs AS (
    SELECT a.article_id AS src, b.article_id AS dst, count(*) AS n
    FROM recent a JOIN recent b ON a.customer_idx = b.customer_idx AND a.article_id <> b.article_id
    GROUP BY a.article_id, b.article_id
)
SELECT p.src, p.dst, p.n, round(p.n / b.n_buyers, 9) AS conf,
       CAST(row_number() OVER (PARTITION BY p.src ORDER BY p.n DESC, p.dst) AS INTEGER) AS rank
FROM pairs p JOIN buyers b ON b.article_id = p.src
WHERE p.n >= 2
QUALIFY rank <= $cobuy_k;

CREATE OR REPLACE TEMP TABLE cust_ctx AS
SELECT customer_idx, count(*) AS n_hist,
       count(*) FILTER (WHERE age_days < 7) AS n_7d,
       count(*) FILTER (WHERE age_days < 28) AS n_28d,
       count(DISTINCT article_id) AS n_articles,
       count(DISTINCT t_dat) AS n_days,
       round(avg(CASE WHEN channel = 2 THEN 1.0 ELSE 0.0 END), 9) AS online_share,
       round(avg(price), 9) AS mean_price, max(price) AS max_price
FROM hist GROUP BY customer_idx;

CREATE OR REPLACE TEMP TABLE cust_all AS
SELECT customer_idx, count(*) AS n_all,
       CAST(CAST($cutoff AS DATE) - max(t_dat) AS INTEGER) AS days_since_last
FROM transactions WHERE t_dat <= CAST($cutoff AS DATE) GROUP BY customer_idx;

CREATE OR REPLACE TEMP TABLE cust_pt AS
SELECT h.customer_idx, a.product_type, count(*) AS n FROM hist h JOIN articles a USING (article_id) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cust_ig AS
SELECT h.customer_idx, a.index_group, count(*) AS n FROM hist h JOIN articles a USING (article_id) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cust_dep AS
SELECT h.customer_idx, a.department, count(*) AS n FROM hist h JOIN articles a USING (article_id) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cust_col AS
SELECT h.customer_idx, a.colour_group, count(*) AS n FROM hist h JOIN articles a USING (article_id) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cust_prod AS
SELECT h.customer_idx, a.product_code, count(*) AS n, min(h.age_days) AS age_days
FROM hist h JOIN articles a USING (article_id) GROUP BY ALL;
