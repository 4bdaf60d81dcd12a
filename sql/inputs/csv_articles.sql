-- Input view input_articles over the CSV file named by the variable articles_path (set by data.py
-- with a bind parameter): every column as text, exactly as the competition's file has it.
-- reads: none
-- writes: input_articles
-- params: none
CREATE OR REPLACE TEMP VIEW input_articles AS
SELECT * FROM read_csv(getvariable('articles_path'), header = true, all_varchar = true, delim = ',',
                       quote = '"', escape = '"', max_line_size = 1048576);
