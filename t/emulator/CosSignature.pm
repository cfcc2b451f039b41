package CosSignature;

# The COS request signature (q-sign-algorithm=sha1), written in Perl from
# ../shared/cos-signature.md, independently of the module's C code.  The CI
# emulator verifies every request it receives with verify().  (t/emulator.t
# signs its requests with a signer of its own, not with this file.)
#
#   verify(method => 'GET', target => '/jobs?queueId=..',
#          headers => { lc name => value }, secrets => { id => key },
#          now => unix seconds)
#     -> { ok => 1, ak => id }
#     or { ok => 0, code => CI error code, message => its text,
#          reason => what exactly is wrong (for the emulator's record) }

use strict;
use warnings;

use Digest::SHA qw(hmac_sha1_hex sha1_hex);
use Exporter qw(import);

our @EXPORT_OK = qw(uri_encode uri_decode canonical http_string
                    string_to_sign sign_key signature verify
                    parse_authorization split_query);

my @FIELDS = qw(q-sign-algorithm q-ak q-sign-time q-key-time q-header-list
                q-url-param-list q-signature);

# UTF-8 bytes; every byte but A-Z a-z 0-9 - _ . ~ as %XX, upper-case hex
sub uri_encode {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# %XX -> byte; nothing else changes ("+" stays "+")
sub uri_decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# "a=1&b=&c" -> ([a, 1], [b, ''], [c, '']), names and values decoded
sub split_query {
    my ($query) = @_;
    return map { my ($n, $v) = split /=/, $_, 2;
                 [ uri_decode($n), uri_decode($v // '') ] }
           grep { length } split /&/, $query // '';
}

# [ [name, value] ... ] -> ("k=v&k=v", "k;k"): names lower(UrlEncode()),
# values UrlEncode(), sorted by the encoded name (a repeated name, which the
# SDKs never produce, by its encoded value next)
sub canonical {
    my ($pairs) = @_;
    my @enc = sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] }
              map { [ lc uri_encode($_->[0]), uri_encode($_->[1]) ] }
              @$pairs;
    return (join('&', map { "$_->[0]=$_->[1]" } @enc),
            join(';', map { $_->[0] } @enc));
}

sub http_string {
    my ($method, $path, $params, $headers) = @_;
    my ($p) = canonical($params);
    my ($h) = canonical($headers);
    return lc($method) . "\n$path\n$p\n$h\n";
}

sub string_to_sign {
    my ($sign_time, $http_string) = @_;
    return "sha1\n$sign_time\n" . sha1_hex($http_string) . "\n";
}

sub sign_key {
    my ($secret_key, $key_time) = @_;
    return hmac_sha1_hex($key_time, $secret_key);
}

sub signature {
    my ($secret_key, $key_time, $sign_time, $http_string) = @_;
    return hmac_sha1_hex(string_to_sign($sign_time, $http_string),
                         sign_key($secret_key, $key_time));
}

# "q-sign-algorithm=sha1&q-ak=..." -> ({ field => value }, undef)
#                                   or (undef, what is wrong)
sub parse_authorization {
    my ($auth) = @_;
    my %a;
    for my $part (split /&/, $auth, -1) {
        my ($k, $v) = $part =~ /\A([^=]*)=(.*)\z/s
            or return (undef, "Authorization part \"$part\" has no \"=\"");
        return (undef, "Authorization has $k twice") if exists $a{$k};
        return (undef, "Authorization has an unknown part $k")
            unless grep { $_ eq $k } @FIELDS;
        $a{$k} = $v;
    }
    for (@FIELDS) {
        return (undef, "Authorization has no $_") unless defined $a{$_};
    }
    return (\%a, undef);
}

sub verify {
    my (%arg) = @_;
    my $headers = $arg{headers};

    my $bad = sub {
        my ($code, $message, $reason) = @_;
        return { ok => 0, code => $code, message => $message,
                 reason => $reason // $message };
    };
    my $mismatch = sub {
        $bad->('SignatureDoesNotMatch',
               'The Signature you specified is invalid.', $_[0]);
    };

    my $auth = $headers->{authorization};
    return $bad->('AccessDenied', 'Access Denied.', 'no Authorization header')
        unless defined $auth && length $auth;

    my ($a, $why) = parse_authorization($auth);
    return $bad->('AccessDenied', 'The Authorization header is malformed.',
                  $why) unless $a;

    return $bad->('AccessDenied', 'The Authorization header is malformed.',
                  'q-sign-algorithm is not sha1')
        unless $a->{'q-sign-algorithm'} eq 'sha1';

    my $key = $arg{secrets}{ $a->{'q-ak'} };
    return $bad->('InvalidAccessKeyId',
                  'The Access Key Id you provided does not exist in our '
                  . 'records.', "unknown q-ak $a->{'q-ak'}")
        unless defined $key;

    for my $f (qw(q-sign-time q-key-time)) {
        return $bad->('AccessDenied', 'The Authorization header is malformed.',
                      "$f is not <start>;<end>")
            unless $a->{$f} =~ /\A[0-9]{1,12};[0-9]{1,12}\z/;
    }
    return $bad->('AccessDenied', 'The Authorization header is malformed.',
                  'q-key-time differs from q-sign-time')
        unless $a->{'q-key-time'} eq $a->{'q-sign-time'};

    my ($start, $end) = split /;/, $a->{'q-sign-time'};
    my $now = $arg{now};
    return $bad->('RequestTimeTooSkewed',
                  "The difference between the request time and the "
                  . "server's time is too large.",
                  "now $now is outside q-sign-time $start;$end")
        unless $start <= $now && $now <= $end;

    my @header_names = split /;/, $a->{'q-header-list'}, -1;
    return $mismatch->('q-header-list has an empty name')
        if grep { !length } @header_names;
    return $mismatch->('host is not in q-header-list')
        unless grep { $_ eq 'host' } @header_names;

    my ($raw_path, $query) = $arg{target} =~ /\A([^?]*)(?:\?(.*))?\z/s;
    my @params = split_query($query);

    # every query parameter signed, nothing signed that is not there
    my %listed;
    for (split /;/, $a->{'q-url-param-list'}, -1) {
        return $mismatch->('q-url-param-list has an empty name')
            unless length;
        $listed{$_}++;
    }
    my %sent;
    $sent{ lc uri_encode($_->[0]) }++ for @params;
    for my $name (sort keys %sent) {
        return $mismatch->("query parameter $name is not in q-url-param-list")
            unless $listed{$name};
        return $mismatch->("query parameter $name is sent $sent{$name} times,"
                           . " listed $listed{$name} times")
            unless $listed{$name} == $sent{$name};
    }
    for my $name (sort keys %listed) {
        return $mismatch->("q-url-param-list names $name, which is not in "
                           . 'the query') unless $sent{$name};
    }

    my @signed_headers;
    for my $name (@header_names) {
        my $value = $headers->{$name};
        return $mismatch->("q-header-list names $name, which is not in the "
                           . 'request') unless defined $value;
        push @signed_headers, [ $name, $value ];
    }

    my $hs = http_string($arg{method}, uri_decode($raw_path), \@params,
                         \@signed_headers);
    my $expected = signature($key, $a->{'q-key-time'}, $a->{'q-sign-time'},
                             $hs);

    if ($expected ne $a->{'q-signature'}) {
        (my $shown = $hs) =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
        return $mismatch->("signature mismatch; HttpString was \"$shown\"");
    }

    return { ok => 1, ak => $a->{'q-ak'} };
}

1;
