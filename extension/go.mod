module gameday-chaos

go 1.27
