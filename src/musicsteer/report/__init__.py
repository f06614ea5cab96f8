"""What people look at: figures and listening pages."""
