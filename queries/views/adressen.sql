-- adressen: every BAG unit with its area. `woonfunctie` is true when the
-- gebruiksdoel list contains woonfunctie (mixed use counts as residential).
CREATE VIEW adressen AS
SELECT identificatie, woonfunctie, oppervlakte, buurtcode, wijkcode, gemeentecode, record_key
FROM bag
