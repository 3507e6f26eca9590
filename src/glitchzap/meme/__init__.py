"""Meme text: read the text in a picture, erase it, draw new captions, compose a meme.

- `ocr`: find text (RapidOCR, cached);
- `inpaint`: the text's mask and the methods that fill it;
- `captions`: memegen-style text boxes, wrapping and drawing;
- `fonts`: caption fonts and their cache;
- `compose`: the use cases `erase_text` and `make_meme`, built from the above.
"""
