"""Reports: results gathered on the controller, and the files written from them."""
