-- id: I01
-- title: cash-intensive businesses
-- numerator: active establishments whose sbi_code starts with a cash-intensive
--   prefix: 9602 9604 4511 4519 4520 4777 4742 5610 5630 9200 4771 5510 6612 4941
-- denominator: active establishments
-- sources: kvk, bag
-- privacy_unit: company
--
-- Support on both sides: distinct kvk_nummer. Every query in this directory
-- has the same shape: `facts` holds one row per counted thing with its area,
-- `cells` aggregates them per buurt, wijk and gemeente in one pass (GROUPING
-- SETS, so support is counted as distinct units at each level, never summed
-- from buurten), and the query returns the cells; the engine adds every
-- other area of `gebieden` with zeros. `onbekend` appears whenever it holds
-- records.
WITH facts AS (
  SELECT
    buurtcode, wijkcode, gemeentecode,
    kvk_nummer AS unit, record_key,
    left(sbi_code, 4) IN ('9602', '9604', '4511', '4519', '4520', '4777', '4742',
                          '5610', '5630', '9200', '4771', '5510', '6612', '4941') AS in_numerator
  FROM actieve_vestigingen
),
cells AS (
  SELECT
    CASE WHEN GROUPING(buurtcode) = 0 THEN 'buurt'
         WHEN GROUPING(wijkcode) = 0 THEN 'wijk'
         ELSE 'gemeente' END AS level,
    COALESCE(buurtcode, wijkcode, gemeentecode) AS code,
    COALESCE(wijkcode, gemeentecode) AS wijkcode,
    gemeentecode,
    SUM(CASE WHEN in_numerator THEN 1 ELSE 0 END) AS numerator,
    COUNT(*) AS denominator,
    COUNT(DISTINCT CASE WHEN in_numerator THEN unit END) AS numerator_support,
    COUNT(DISTINCT unit) AS denominator_support,
    SUM(CASE WHEN in_numerator THEN record_key ELSE 0 END) AS numerator_key,
    SUM(record_key) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
