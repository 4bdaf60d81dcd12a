-- The fill order's tail, for a shop with fewer articles on sale than a list holds: the articles
-- sold before (on or before $cutoff) by their sales, then the rest of the catalogue by id ->
-- temp table fill_tail(article_id), at most $k rows.
-- reads: transactions, articles
-- writes: fill_tail
-- params: $cutoff, $k
CREATE OR REPLACE TEMP TABLE fill_tail AS
WITH sold AS (
    SELECT article_id, count(*) AS n FROM transactions WHERE t_dat <= CAST($cutoff AS DATE) GROUP BY article_id
)
SELECT a.article_id
FROM articles a LEFT JOIN sold s USING (article_id)
ORDER BY coalesce(s.n, 0) DESC, a.article_id
LIMIT $k;
