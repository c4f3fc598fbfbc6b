"""Settlement: offers and counter-offers, mediation, the agreement signed by both sides."""
