-- Sales per article and week counted back from $cutoff, for the report's data plots: week 0 is
-- the 7 days up to the cut-off, 1 the 7 days before them, -1 the (held-out) days after it
-- -> temp table report_weekly(week, article_id, n_sales).
-- reads: transactions
-- writes: report_weekly
-- params: $cutoff
CREATE OR REPLACE TEMP TABLE report_weekly AS
SELECT CAST(CASE WHEN t_dat > CAST($cutoff AS DATE) THEN -1 - (t_dat - CAST($cutoff AS DATE) - 1) // 7
                 ELSE (CAST($cutoff AS DATE) - t_dat) // 7 END AS INTEGER) AS week,
       article_id, count(*) AS n_sales
FROM transactions
GROUP BY ALL;
