"""One router per topic; `glitchzap.api.main` includes them all."""
