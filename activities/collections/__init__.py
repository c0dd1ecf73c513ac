"""Collections (dunning): cadences as data, send windows, the account facts a cadence
acts on, and the activities that email, escalate, suspend and record promises to pay."""
