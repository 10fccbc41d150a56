"""Li+ transport: BVSE maps and percolation (bvse), MLIP molecular dynamics (md),
mean squared displacement, diffusion coefficients and conductivity (diffusion)."""
