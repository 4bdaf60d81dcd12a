-- Article features as of a date, point in time: from temp table asof_articles(article_id,
-- asof_date) and the transactions strictly before asof_date -> temp table article_features
-- (static attributes plus age since first sale and sales of the last 7 and 28 days).
-- reads: asof_articles, transactions, articles
-- writes: article_features
-- params: none
CREATE OR REPLACE TEMP TABLE article_features AS
WITH sales AS (
    SELECT q.article_id, q.asof_date,
           min(t.t_dat) AS first_sale,
           count(t.t_dat) FILTER (WHERE t.t_dat >= q.asof_date - 7) AS n_7,
           count(t.t_dat) FILTER (WHERE t.t_dat >= q.asof_date - 28) AS n_28
    FROM asof_articles q
    LEFT JOIN transactions t ON t.article_id = q.article_id AND t.t_dat < q.asof_date
    GROUP BY q.article_id, q.asof_date
)
SELECT s.article_id, s.asof_date,
       a.product_code, CAST(a.product_type AS INTEGER) AS product_type,
       CAST(a.product_group AS INTEGER) AS product_group,
       CAST(a.graphical_appearance AS INTEGER) AS graphical_appearance,
       CAST(a.colour_group AS INTEGER) AS colour_group,
       CAST(a.perceived_colour_value AS INTEGER) AS perceived_colour_value,
       CAST(a.perceived_colour_master AS INTEGER) AS perceived_colour_master,
       CAST(a.department AS INTEGER) AS department, CAST(a.index_name AS INTEGER) AS index_name,
       CAST(a.index_group AS INTEGER) AS index_group, CAST(a.section AS INTEGER) AS section,
       CAST(a.garment_group AS INTEGER) AS garment_group,
       CAST(ln(1 + coalesce(s.asof_date - s.first_sale, 0)) / 7 AS FLOAT) AS log_age,
       CAST(s.first_sale IS NULL AS FLOAT) AS never_sold,
       CAST(ln(1 + s.n_7) / 5 AS FLOAT) AS log_sales_7,
       CAST(ln(1 + s.n_28) / 5 AS FLOAT) AS log_sales_28
FROM sales s JOIN articles a USING (article_id);
