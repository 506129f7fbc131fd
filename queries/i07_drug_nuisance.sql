-- id: I07
-- title: drug nuisance
-- numerator: reports with categorie Drugsoverlast dated in the window
--   (peildatum - 12 months, peildatum]
-- denominator: inhabitants (distinct persons with a current W registration)
-- sources: meldingen, brp, bag
-- privacy_unit: report
-- denominator_unit: person
--
-- Support: reports (distinct melding_id); distinct persons.
WITH facts AS (
  SELECT 'n' AS side, buurtcode, wijkcode, gemeentecode, melding_id AS unit, record_key
  FROM meldingen
  WHERE categorie = 'Drugsoverlast'
    AND datum > {{window_start}} AND datum <= {{peildatum}}
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
