-- id: I06
-- title: energy anomalies
-- numerator: residential addresses whose yearly kWh is strictly above the exact
--   99th percentile of residential addresses in the same gemeente and
--   floor-area band (0-50, 50-100, 100-150, 150+ m2)
-- denominator: residential addresses with energy data
-- sources: energie, bag
-- privacy_unit: address
--
-- Only the latest `jaar` in the energie data is used. Energy rows whose id
-- is not a BAG unit drop out; several rows of one address in that year are
-- added up. `onbekend` addresses form their own partition. The threshold is
-- percentile_cont (exact, linear interpolation between the two nearest
-- ranks), not an approximate sketch.
WITH latest AS (
  SELECT MAX(jaar) AS jaar FROM energie
),
usage AS (
  SELECT a.identificatie, a.oppervlakte, a.buurtcode, a.wijkcode, a.gemeentecode, a.record_key,
         SUM(e.verbruik_kwh) AS kwh
  FROM energie e
  JOIN latest l ON e.jaar = l.jaar
  JOIN adressen a ON a.identificatie = e.adresseerbaarobject_id
  WHERE a.woonfunctie
  GROUP BY a.identificatie, a.oppervlakte, a.buurtcode, a.wijkcode, a.gemeentecode, a.record_key
),
banded AS (
  SELECT *,
    CASE WHEN oppervlakte IS NULL THEN NULL
         WHEN oppervlakte < 50 THEN 0
         WHEN oppervlakte < 100 THEN 1
         WHEN oppervlakte < 150 THEN 2
         ELSE 3 END AS band
  FROM usage
),
thresholds AS (
  SELECT gemeentecode, band,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY kwh) AS p99
  FROM banded
  WHERE band IS NOT NULL
  GROUP BY gemeentecode, band
),
facts AS (
  SELECT
    b.buurtcode, b.wijkcode, b.gemeentecode, b.identificatie AS unit, b.record_key,
    COALESCE(b.kwh > t.p99, false) AS in_numerator
  FROM banded b
  LEFT JOIN thresholds t ON t.gemeentecode = b.gemeentecode AND t.band = b.band
  -- An address without a floor area has no band: it drops out entirely.
  WHERE b.band IS NOT NULL
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
