-- Input view input_sample_submission over the CSV file named by the variable sample_submission_path
-- (set by data.py with a bind parameter): every column as text, exactly as the competition's file
-- has it.
-- reads: none
-- writes: input_sample_submission
-- params: none
CREATE OR REPLACE TEMP VIEW input_sample_submission AS
SELECT * FROM read_csv(getvariable('sample_submission_path'), header = true, all_varchar = true, delim = ',',
                       quote = '"', escape = '"');
