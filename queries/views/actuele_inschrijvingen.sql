-- actuele_inschrijvingen: BRP registrations (W and B) current at the
-- peildatum: registered on or before it and not deregistered on or before it.
CREATE VIEW actuele_inschrijvingen AS
SELECT persoon_id, adresseerbaarobject_id, soort_adres, buurtcode, wijkcode, gemeentecode, record_key
FROM brp
WHERE datum_inschrijving <= {{peildatum}}
  AND (datum_uitschrijving IS NULL OR datum_uitschrijving > {{peildatum}})
