"""medtranslate: unpaired brain CT → synthetic MRI translation with CycleGAN, built on MONAI.

Domain A is CT and domain B is MRI throughout; ``G_A`` maps CT → MRI and ``G_B`` maps MRI → CT.
"""

__version__ = "0.1.0"
