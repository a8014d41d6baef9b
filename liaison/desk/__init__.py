"""The officer desk: a local web app over the officer's own device (`liaison desk`)."""
