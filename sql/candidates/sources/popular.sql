-- Source popular: last week's best sellers (art_ctx's sales of the last 7 days), the same list
-- for every customer: written once per age band of the wanted customers (src_band), not per
-- customer.
-- reads: art_ctx, wanted
-- writes: src_band
-- params: $k
INSERT INTO src_band
WITH top AS (
    SELECT article_id, CAST(sales_7d AS DOUBLE) AS score,
           CAST(row_number() OVER (ORDER BY sales_7d DESC, article_id) AS INTEGER) AS rank
    FROM art_ctx QUALIFY rank <= $k
)
SELECT b.band, t.article_id, 'popular', t.score, t.rank
FROM (SELECT DISTINCT band FROM wanted) b CROSS JOIN top t;
