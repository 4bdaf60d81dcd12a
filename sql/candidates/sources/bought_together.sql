-- Source bought_together: articles bought by the same customers (cobuy of the context) as the
-- customer's articles of the last $cobuy_days days (wanted_recent), by their confidence
-- weighted by recency.
-- reads: wanted_recent, cobuy
-- writes: src
-- params: $k
INSERT INTO src
SELECT customer_idx, article_id, 'bought_together', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM (SELECT m.customer_idx, c.dst AS article_id, round(sum(c.conf * exp(-m.age_days / 14.0)), 9) AS score
      FROM wanted_recent m JOIN cobuy c ON c.src = m.article_id
      GROUP BY m.customer_idx, c.dst)
QUALIFY rank <= $k;
