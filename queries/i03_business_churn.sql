-- id: I03
-- title: business churn
-- numerator: establishments started plus establishments ended in the window
--   (peildatum - 12 months, peildatum]; one that does both counts twice
-- denominator: active establishments
-- sources: kvk, bag
-- privacy_unit: company
--
-- Support: distinct kvk_nummer involved in the events; distinct kvk_nummer of
-- the active establishments.
WITH facts AS (
  SELECT 'n' AS side, buurtcode, wijkcode, gemeentecode, kvk_nummer AS unit, record_key
  FROM kvk
  WHERE datum_inschrijving > {{window_start}} AND datum_inschrijving <= {{peildatum}}
  UNION ALL
  SELECT 'n' AS side, buurtcode, wijkcode, gemeentecode, kvk_nummer AS unit, record_key
  FROM kvk
  WHERE datum_opheffing > {{window_start}} AND datum_opheffing <= {{peildatum}}
  UNION ALL
  SELECT 'd' AS side, buurtcode, wijkcode, gemeentecode, kvk_nummer AS unit, record_key
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
    SUM(CASE WHEN side = 'n' THEN 1 ELSE 0 END) AS numerator,
    SUM(CASE WHEN side = 'd' THEN 1 ELSE 0 END) AS denominator,
    COUNT(DISTINCT CASE WHEN side = 'n' THEN unit END) AS numerator_support,
    COUNT(DISTINCT CASE WHEN side = 'd' THEN unit END) AS denominator_support,
    SUM(CASE WHEN side = 'n' THEN record_key ELSE 0 END) AS numerator_key,
    SUM(CASE WHEN side = 'd' THEN record_key ELSE 0 END) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
