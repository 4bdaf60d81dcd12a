-- Step 4: sample_submission.csv (view input_sample_submission, or an empty stand-in when the file
-- is absent) -> submission_customers, the customers that `submit` answers, in the file's order.
-- reads: input_sample_submission, customers
-- writes: submission_customers
-- params: none
CREATE TABLE submission_customers AS
SELECT
    CAST(row_number() OVER () - 1 AS INTEGER) AS position,
    s.customer_id,
    c.customer_idx
FROM input_sample_submission s
LEFT JOIN customers c ON c.customer_id = s.customer_id
ORDER BY position;
