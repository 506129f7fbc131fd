-- id: I09
-- title: young-company buyers
-- numerator: sales in the window (peildatum - 12 months, peildatum] to a legal
--   person whose kvk registration is less than 12 months older than the sale
-- denominator: sales in the window
-- sources: vastgoed, kvk, bag
-- privacy_unit: sale
--
-- A company's registration date is the earliest datum_inschrijving of its
-- establishments in the kvk file; a koper_kvk not in the kvk file never
-- counts, nor does one registered after the sale (young means: sale - 12
-- months < registration <= sale). Support: distinct koper_kvk; number of sales (distinct
-- transactie_id).
WITH registered AS (
  SELECT kvk_nummer, MIN(datum_inschrijving) AS since
  FROM kvk
  GROUP BY kvk_nummer
),
facts AS (
  SELECT
    v.buurtcode, v.wijkcode, v.gemeentecode, v.transactie_id AS unit, v.record_key, v.koper_kvk,
    COALESCE(v.koper_type = 'rechtspersoon'
             AND r.since > v.transactiedatum - INTERVAL '12 months'
             AND r.since <= v.transactiedatum, false) AS in_numerator
  FROM vastgoed v
  LEFT JOIN registered r ON r.kvk_nummer = v.koper_kvk
  WHERE v.transactiedatum > {{window_start}} AND v.transactiedatum <= {{peildatum}}
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
    COUNT(DISTINCT CASE WHEN in_numerator THEN koper_kvk END) AS numerator_support,
    COUNT(DISTINCT unit) AS denominator_support,
    SUM(CASE WHEN in_numerator THEN record_key ELSE 0 END) AS numerator_key,
    SUM(record_key) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
