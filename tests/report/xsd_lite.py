"""A small XML Schema validator for the subset of XSD that the vendored JUnit schema
(junit-10.xsd) uses, because no full validator (lxml, xmlschema) is installed.

Reads the schema itself (nothing about JUnit is hard-coded here): global and local
element declarations, `ref`, named and inline complex types, `mixed`, nested
`sequence`/`choice` with minOccurs/maxOccurs, attributes with `use="required"`,
`xs:string` and simple types restricted by `xs:pattern`. No namespaces, no
extensions, no identity constraints. A content model is checked by turning it into
a regular expression over the child element names.

Where Java is installed, the tests also validate with javax.xml.validation (the JDK's
full schema validator) to keep this one honest.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XS = "{http://www.w3.org/2001/XMLSchema}"
UNBOUNDED = -1


@dataclass
class ElementDecl:
    name: str
    type_name: str | None = None  # "xs:string" or a named type
    inline: ET.Element | None = None  # inline complexType


@dataclass
class ComplexType:
    mixed: bool
    model: ET.Element | None  # the sequence/choice particle, if any
    attributes: dict[str, tuple[bool, str]] = field(default_factory=dict)  # name -> (required, type)


class Schema:
    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        self.elements = {e.get("name"): self._decl(e) for e in root.findall(f"{XS}element")}
        self.complex_types = {t.get("name"): t for t in root.findall(f"{XS}complexType")}
        self.patterns: dict[str, str] = {}
        for t in root.findall(f"{XS}simpleType"):
            pattern = t.find(f"{XS}restriction/{XS}pattern")
            if pattern is not None:
                self.patterns[t.get("name")] = pattern.get("value")

    @staticmethod
    def _decl(e: ET.Element) -> ElementDecl:
        return ElementDecl(e.get("name"), e.get("type"), e.find(f"{XS}complexType"))

    def _complex(self, decl: ElementDecl) -> ComplexType | None:
        node = decl.inline if decl.inline is not None else self.complex_types.get(decl.type_name or "")
        if node is None:
            return None
        model = next((c for c in node if c.tag in (f"{XS}sequence", f"{XS}choice")), None)
        attrs = {a.get("name"): (a.get("use") == "required", a.get("type", "xs:string"))
                 for a in node.findall(f"{XS}attribute")}
        return ComplexType(node.get("mixed") == "true", model, attrs)

    # ------------------------------------------------------------ validation
    def validate(self, doc: ET.Element) -> list[str]:
        """Errors found in the document (empty = valid)."""
        decl = self.elements.get(doc.tag)
        if decl is None:
            return [f"/{doc.tag}: not a global element of the schema"]
        errors: list[str] = []
        self._check(doc, decl, f"/{doc.tag}", errors)
        return errors

    def _check(self, el: ET.Element, decl: ElementDecl, path: str, errors: list[str]) -> None:
        ctype = self._complex(decl)
        if ctype is None:  # simple type: text only
            if len(el):
                errors.append(f"{path}: element children not allowed in simple content")
            if el.attrib:
                errors.append(f"{path}: attributes {sorted(el.attrib)} not allowed in simple content")
            self._check_value(el.text or "", decl.type_name or "xs:string", path, errors)
            return
        for name, (required, _) in ctype.attributes.items():
            if required and name not in el.attrib:
                errors.append(f"{path}: required attribute {name!r} missing")
        for name, value in el.attrib.items():
            if name not in ctype.attributes:
                errors.append(f"{path}: attribute {name!r} not allowed")
            else:
                self._check_value(value, ctype.attributes[name][1], f"{path}/@{name}", errors)
        if not ctype.mixed:
            texts = [el.text] + [c.tail for c in el]
            if any(t and t.strip() for t in texts):
                errors.append(f"{path}: text not allowed (element-only content)")
        names = [c.tag for c in el]
        if ctype.model is None:
            if names:
                errors.append(f"{path}: no child elements allowed, found {names}")
            return
        local: dict[str, ElementDecl] = {}
        regex = self._regex(ctype.model, local)
        if not re.fullmatch(regex, "".join(f"<{n}>" for n in names)):
            errors.append(f"{path}: children {names} do not match the content model")
        for i, child in enumerate(el):
            child_decl = local.get(child.tag)
            if child_decl is not None:
                self._check(child, child_decl, f"{path}/{child.tag}[{i}]", errors)

    def _check_value(self, value: str, type_name: str, path: str, errors: list[str]) -> None:
        pattern = self.patterns.get(type_name)
        if pattern is not None and not re.fullmatch(pattern, value):
            errors.append(f"{path}: {value!r} does not match the pattern of {type_name}")

    def _regex(self, particle: ET.Element, local: dict[str, ElementDecl]) -> str:
        if particle.tag == f"{XS}element":
            ref = particle.get("ref")
            decl = self.elements[ref] if ref else self._decl(particle)
            local[decl.name] = decl
            body = re.escape(f"<{decl.name}>")
        else:
            parts = [self._regex(c, local) for c in particle if c.tag in (f"{XS}element", f"{XS}sequence",
                                                                           f"{XS}choice")]
            body = "".join(parts) if particle.tag == f"{XS}sequence" else "|".join(parts)
        low = int(particle.get("minOccurs", "1"))
        high_text = particle.get("maxOccurs", "1")
        high = "" if high_text == "unbounded" else high_text
        return f"(?:{body}){{{low},{high}}}"


def validate_file(schema_path: Path, xml_path: Path) -> list[str]:
    return Schema(schema_path).validate(ET.parse(xml_path).getroot())
