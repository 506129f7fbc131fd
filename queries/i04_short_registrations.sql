-- id: I04
-- title: short registrations
-- numerator: BRP registrations (W and B) that ended in the window
--   (peildatum - 12 months, peildatum] after lasting less than 183 days
-- denominator: inhabitants (distinct persons with a current W registration)
-- sources: brp, bag
-- privacy_unit: person
--
-- Support: distinct persons on both sides.
WITH facts AS (
  SELECT 'n' AS side, buurtcode, wijkcode, gemeentecode, persoon_id AS unit, record_key
  FROM brp
  WHERE datum_uitschrijving > {{window_start}} AND datum_uitschrijving <= {{peildatum}}
    AND datum_inschrijving > datum_uitschrijving - INTERVAL '183 days'
  UNION ALL
  SELECT 'd' AS side, buurtcode, wijkcode, gemeentecode, persoon_id AS unit, record_key
  FROM inwoners
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
    COUNT(DISTINCT CASE WHEN side = 'd' THEN unit END) AS denominator,
    COUNT(DISTINCT CASE WHEN side = 'n' THEN unit END) AS numerator_support,
    COUNT(DISTINCT CASE WHEN side = 'd' THEN unit END) AS denominator_support,
    SUM(CASE WHEN side = 'n' THEN record_key ELSE 0 END) AS numerator_key,
    SUM(CASE WHEN side = 'd' THEN record_key ELSE 0 END) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
