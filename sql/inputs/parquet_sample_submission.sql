-- Input view input_sample_submission over the Parquet file named by the variable
-- sample_submission_path (set by data.py with a bind parameter): every column as text, as from the
-- CSV file (step 04 reads customer_id only).
-- reads: none
-- writes: input_sample_submission
-- params: none
CREATE OR REPLACE TEMP VIEW input_sample_submission AS
SELECT COLUMNS(*)::VARCHAR FROM read_parquet(getvariable('sample_submission_path'));
