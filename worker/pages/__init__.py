"""Render and write Notion pages: templates → Markdown → blocks → requests, and back."""
