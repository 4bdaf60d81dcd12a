-- Input view input_articles over the Parquet file named by the variable articles_path (set by data.py
-- with a bind parameter): every column as text, as from the CSV file (an integer article_id
-- becomes '108775015', which step 01 casts to the same INTEGER as '0108775015').
-- reads: none
-- writes: input_articles
-- params: none
CREATE OR REPLACE TEMP VIEW input_articles AS
SELECT COLUMNS(*)::VARCHAR FROM read_parquet(getvariable('articles_path'));
