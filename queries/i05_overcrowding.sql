-- id: I05
-- title: overcrowding
-- numerator: residential addresses with at least 4 current W registrations and
--   an oppervlakte below 12 m2 per current W registration
-- denominator: residential addresses with at least 1 current W registration
-- sources: brp, bag
-- privacy_unit: address
--
-- Support: distinct addresses on both sides. The area is the address's.
WITH occupancy AS (
  SELECT a.identificatie, a.oppervlakte, a.buurtcode, a.wijkcode, a.gemeentecode, a.record_key,
         COUNT(*) AS registrations
  FROM adressen a
  JOIN actuele_inschrijvingen i ON i.adresseerbaarobject_id = a.identificatie
  WHERE a.woonfunctie AND i.soort_adres = 'W'
  GROUP BY a.identificatie, a.oppervlakte, a.buurtcode, a.wijkcode, a.gemeentecode, a.record_key
),
facts AS (
  SELECT
    buurtcode, wijkcode, gemeentecode, identificatie AS unit, record_key,
    COALESCE(registrations >= 4 AND oppervlakte < 12 * registrations, false) AS in_numerator
  FROM occupancy
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
