-- Customer segment at $cutoff for temp table wanted(customer_idx): 'no history' (no purchase up to
-- $cutoff), 'active last month' (a purchase in the 28 days up to $cutoff) or 'inactive'.
-- reads: wanted, transactions
-- writes: none (returns customer_idx, segment)
-- params: $cutoff
SELECT w.customer_idx,
       CASE WHEN max(t.t_dat) IS NULL THEN 'no history'
            WHEN max(t.t_dat) > CAST($cutoff AS DATE) - 28 THEN 'active last month'
            ELSE 'inactive' END AS segment
FROM wanted w LEFT JOIN transactions t ON t.customer_idx = w.customer_idx AND t.t_dat <= CAST($cutoff AS DATE)
GROUP BY w.customer_idx ORDER BY w.customer_idx;
