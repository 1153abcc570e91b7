"""FHIR R4 export of the clinic's records for the hospital."""
