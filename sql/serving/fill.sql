-- The order every list is filled from when its sources give fewer than k distinct articles: the
-- articles on sale (sold in the $days days up to $cutoff) by last week's sales, then by their
-- sales of the $days days, then by id -> temp table fill_order(article_id), at most $k rows.
-- Only rows dated on or before $cutoff are read.
-- reads: transactions
-- writes: fill_order
-- params: $cutoff, $days, $k
CREATE OR REPLACE TEMP TABLE fill_order AS
SELECT article_id
FROM transactions
WHERE t_dat <= CAST($cutoff AS DATE) AND t_dat > CAST($cutoff AS DATE) - $days
GROUP BY article_id
ORDER BY count(*) FILTER (WHERE t_dat > CAST($cutoff AS DATE) - 7) DESC, count(*) DESC, article_id
LIMIT $k;
