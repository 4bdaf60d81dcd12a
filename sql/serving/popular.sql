-- Last week's sales per article, overall (age_group -1) and per age group of the buyer, in the 7
-- days up to $cutoff -> temp table popular(age_group, article_id, n_sales). Age groups: 0 under 25,
-- 1 25-34, 2 35-44, 3 45-54, 4 55 and over; customers without an age count only overall.
-- reads: transactions, customers
-- writes: popular
-- params: $cutoff
CREATE OR REPLACE TEMP TABLE popular AS
WITH week AS (
    SELECT t.article_id, c.age
    FROM transactions t JOIN customers c USING (customer_idx)
    WHERE t.t_dat <= CAST($cutoff AS DATE) AND t.t_dat > CAST($cutoff AS DATE) - 7
)
SELECT -1 AS age_group, article_id, count(*) AS n_sales FROM week GROUP BY article_id
UNION ALL
SELECT CASE WHEN age IS NULL THEN -1 ELSE CAST(least(greatest((age - 15) // 10, 0), 4) AS INTEGER) END AS age_group, article_id, count(*)
FROM week WHERE age IS NOT NULL GROUP BY age_group, article_id;
