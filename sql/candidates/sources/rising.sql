-- Source rising: among last week's 1,000 best sellers, the articles growing fastest week over
-- week (trend x ln(1 + sales of the last 7 days)), the same list for every customer: written once
-- per age band of the wanted customers (src_band).
-- reads: art_ctx, wanted
-- writes: src_band
-- params: $k
INSERT INTO src_band
WITH top AS (
    SELECT article_id, score,
           CAST(row_number() OVER (ORDER BY score DESC, article_id) AS INTEGER) AS rank
    FROM (SELECT article_id, trend * ln(1 + sales_7d) AS score FROM art_ctx
          WHERE sales_7d > 0 ORDER BY sales_7d DESC, article_id LIMIT 1000)
    QUALIFY rank <= $k
)
SELECT b.band, t.article_id, 'rising', t.score, t.rank
FROM (SELECT DISTINCT band FROM wanted) b CROSS JOIN top t;
