"""Application services: workflows over the store, the drug library and the pump link. No Qt."""
